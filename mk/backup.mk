# The backup role's program against a fake docker CLI and the real age (make unit runs the same
# tests but skips them when age is missing; here age is installed and required).
.PHONY: backup-tests bench-backup

backup-tests: venv host-deps ## the backup program's tests with age required (retention, atomicity, failures, encryption)
	CARIFLEX_REQUIRE_AGE=1 $(VENV)/bin/pytest -p no:cacheprovider tests/unit/roles/backup

bench-backup: venv host-deps ## backup vs plain pg_dump with 1 million readings, and the restore (Debian's PostgreSQL on loopback)
	$(VENV)/bin/python benchmarks/backup/bench.py

TEST_TARGETS += backup-tests
