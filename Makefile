# Two commands on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PATIENT ?= knowledge_base/cases/imnm_anti_hmgcr_early.yaml

.PHONY: demo test bench soak fuzz graphs clean dot

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The graphviz `dot` program renders SVG/PNG/PDF; Debian's graphviz package provides it.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null; fi; }

demo: $(STAMP) dot
	$(BIN)/myoivig consult $(PATIENT)
	@mkdir -p out
	$(BIN)/myoivig graph case $(PATIENT) -o out/demo-case.svg

test: $(STAMP) dot
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

# Minutes, not seconds: 100,000 consultations in one process, then 20,000 in each of two at once.
soak: $(STAMP)
	$(BIN)/python tests/soak.py --patients 100000
	$(BIN)/python tests/soak.py --patients 20000 --processes 2

# The loader fuzz of the suite with a budget fifty times larger (about ten minutes).
fuzz: $(STAMP)
	MYOIVIG_FUZZ_EXAMPLES=3000 $(BIN)/python -m pytest -q tests/test_fuzz_loader.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache
