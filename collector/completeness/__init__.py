"""Completeness: which ratings each kiosk created and which arrived (gaps, audit)."""
