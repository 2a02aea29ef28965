# Every command a user runs; see README.md.
.PHONY: setup test demo bench clean

setup:
	scripts/setup.sh

test: setup
	scripts/test.sh

demo: setup
	.venv/bin/python scripts/demo.py

bench: setup
	.venv/bin/python tests/bench/kiosk_latency.py
	.venv/bin/python tests/bench/ingest.py
	.venv/bin/python tests/bench/reports.py
	.venv/bin/python tests/bench/soak.py

clean:
	rm -rf .venv tests/artifacts .pytest_cache
