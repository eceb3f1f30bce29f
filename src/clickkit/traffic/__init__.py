"""The fake website: realistic click traffic, and sending it with every event accounted for."""
