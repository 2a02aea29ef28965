"""Reports: queries over the rollups, the report itself, export to CSV/XLSX, officers' evaluation."""
