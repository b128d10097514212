# Two commands on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PATIENT ?= knowledge_base/cases/imnm_anti_hmgcr_early.yaml

.PHONY: demo test test-fast lint typecheck bench soak faults fuzz differential mutation graphs kb-update clean dot chromium

# Installing is quiet unless it fails (then its whole log is shown).
$(STAMP): pyproject.toml
	@python3 -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@$(BIN)/pip install --quiet -e '.[test]' >> $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

# The graphviz `dot` program renders SVG/PNG/PDF; Debian's graphviz package provides it.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null; fi; }

# Debian's chromium, which the report's browser tests drive through Playwright (no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

demo: $(STAMP) dot
	@$(BIN)/myoivig consult $(PATIENT)
	@mkdir -p out
	@$(BIN)/myoivig graph case $(PATIENT) -o out/demo-case.svg

test: lint typecheck dot chromium
	$(BIN)/python -m pytest

# The inner loop: every test not marked slow (no servers, browsers, clusters or whole cohorts), under 30 s.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check engine cli diagrams tests bench

# mypy reads the package as installed (a plain, non-editable copy), so every import between
# modules is followed and checked; the source folders alone would hide them behind Any.
typecheck: $(STAMP)
	rm -rf build/typecheck build/lib  # build/lib: setuptools would copy modules since moved or deleted
	$(BIN)/pip install --quiet --no-deps --no-compile --target build/typecheck . 2>&1 | grep -v "^WARNING: Location" || true
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../setup.cfg -p myoivig

# Minutes: every figure of docs/performance.md (BENCH=--quick for a smoke run).
bench: $(STAMP)
	$(BIN)/python bench/bench.py $(BENCH)

# Minutes, not seconds: 100,000 consultations in one process, then 20,000 in each of two at once.
soak: $(STAMP)
	$(BIN)/python tests/soak.py --patients 100000
	$(BIN)/python tests/soak.py --patients 20000 --processes 2

# About ten minutes: 250 injected faults (kill -9, SIGTERM/SIGINT, full disks, closed pipes, audit
# tampering, slow clients) against batch, the audit log and the service; see docs/reliability.md.
faults: $(STAMP)
	$(BIN)/python tests/faults.py

# Minutes: the incremental missing-fact search against the exhaustive one (and the incremental rule
# evaluation against the full one) on 20,000 patients at range ends and thresholds; make test runs a slice.
differential: $(STAMP)
	$(BIN)/python tests/differential.py --patients 20000

# The loader fuzz of the suite with a budget fifty times larger (about ten minutes).
fuzz: $(STAMP)
	MYOIVIG_FUZZ_EXAMPLES=3000 $(BIN)/python -m pytest -q tests/test_fuzz_loader.py

# Mutation testing with cosmic-ray in throwaway clones: every module of engine/ takes hours;
# MUTATE="engine/verdict.py" runs one. Survivors get a second look with the tests the first 20 s
# did not reach. Exits 1 under a 90% score (confirmed-equivalent mutants set apart).
MUTATE ?=
mutation:
	python3 tests/mutation.py --recheck 30 $(MUTATE)

# What is generated and committed: the drawings (README, docs/architecture.md) and the patient schema.
graphs: $(STAMP) dot
	$(BIN)/myoivig facts --schema > engine/schema/patient.schema.json
	$(BIN)/myoivig graph kb -o diagrams/knowledge_base.gv
	$(BIN)/myoivig graph kb -o diagrams/knowledge_base.svg
	$(BIN)/python -m myoivig.diagrams.architecture docs/architecture.gv
	$(BIN)/python -m myoivig.diagrams.architecture docs/architecture.svg

# After a knowledge-base edit: the cases' FHIR twins and expected outputs, the patient schema, the
# drawings and the reviewed outputs, regenerated; then what changed is listed (read it before committing).
kb-update: $(STAMP) dot
	$(BIN)/python tests/kb_update.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .mypy_cache .ruff_cache
