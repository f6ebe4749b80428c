# Thin aliases: the real commands are `python3 manage.py run` and `python3 manage.py test`,
# which need nothing but Python (manage.py creates .venv and installs on first use).
PYTHON ?= python3

.PHONY: run test lint format migrations
run:
	$(PYTHON) manage.py run

test:
	$(PYTHON) manage.py test $(ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

migrations:
	DJANGO_SETTINGS_MODULE=config.settings.local $(PYTHON) manage.py makemigrations
