"""Fast tests of the pure rooms: no model, no server."""
