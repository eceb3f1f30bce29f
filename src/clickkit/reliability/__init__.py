"""The reliability scenarios: bad input, outages, a killed leader, shutdown."""
