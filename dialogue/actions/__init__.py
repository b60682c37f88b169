"""Custom actions in a conversation: triggers, forms and slots, the tracker, the rasa-sdk action server."""
