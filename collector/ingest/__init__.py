"""Ingest: the MQTT source, classifying messages, placing them on real time, storing them once, receipts."""
