"""Work a server process does on its own: taking over dead processes' work, data retention."""
