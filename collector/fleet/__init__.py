"""The fleet: the configuration each kiosk should run and what it reports it runs."""
