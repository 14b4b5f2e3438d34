# digitribe.cariflex.flexmeasures_sensors: its benchmark (not part of `make test`; the module's
# unit and integration tests run in `make unit` and `make integration`).
.PHONY: bench-flexmeasures-sensors

bench-flexmeasures-sensors: venv host-deps ## module vs a loop of uri tasks, cold and warm (real FlexMeasures on loopback)
	$(VENV)/bin/python benchmarks/flexmeasures_sensors/bench.py --warm-runs 5
