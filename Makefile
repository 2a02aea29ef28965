# Every command a user runs; see README.md.
.PHONY: setup test demo bench doc-images mutants clean

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

doc-images: setup  # the window and browser tests, copying their screenshots into docs/img
	HAILONG_DOC_IMAGES=1 TEST_WORKERS=2 scripts/test.sh tests/ui

mutants: setup  # mutation testing of the no-loss and completeness code (long; not part of `make test`)
	scripts/mutants.sh

clean:
	rm -rf .venv tests/artifacts .pytest_cache mutants
