"""What support teams work with besides the inbox: agent assist, analytics, knowledge gaps, customer data."""
