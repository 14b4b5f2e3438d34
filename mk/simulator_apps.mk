# The data-source apps (apps/simulator): simulator with S2 resource managers, weather ingest.
# Their tests start the real VTN, VEN and S2 service of apps/openadr and a real FlexMeasures on
# 127.0.0.1, so they run in the OpenADR apps' venv (apps/simulator/requirements-dev.txt says so).
SIMULATOR_APPS := apps/simulator

.PHONY: simulator-apps-lint simulator-apps-test

simulator-apps-lint: openadr-apps-venv ## ruff and hadolint on apps/simulator
	$(OPENADR_VENV)/bin/ruff check $(SIMULATOR_APPS)
	$(OPENADR_VENV)/bin/ruff format --check $(SIMULATOR_APPS)
	$(OPENADR_VENV)/bin/hadolint $(SIMULATOR_APPS)/Dockerfile

simulator-apps-test: simulator-apps-lint host-deps ## lint + pytest of the simulator and weather ingest (real VTN/VEN/FlexMeasures on loopback)
	cd $(SIMULATOR_APPS) && $(abspath $(OPENADR_VENV))/bin/python -m pytest -p no:cacheprovider tests

TEST_TARGETS += simulator-apps-test
