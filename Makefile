# Two commands matter: `make run` (the whole assistant with demo data) and `make test` (what CI runs).
.PHONY: run run-production train test setup setup-rasa setup-system lint typecheck bench-booking locales vendor-js clean

run: train
	.venv/bin/python scripts/run_all.py

# The production deployment on this machine: PostgreSQL, Redis, nginx, several replicas (README).
run-production: train setup-system
	.venv/bin/python scripts/run_all.py --profile production

# Rasa retrains only when the domain, config or data changed since the last model in models/.
# Rasa falls back to its own importer, with only a warning, when bot.importer cannot be imported.
train: setup-rasa
	.venv-rasa/bin/python -c "import bot.importer"
	.venv-rasa/bin/rasa train --domain bot/domain.yml --config bot/config.yml --data nlu_data bot/rules.yml \
		--out models --fixed-model-name bot

# pytest on two processes, one test file per process at a time (module fixtures start servers once);
# then the tests marked `alone`, which need both cores.
test: setup-rasa setup-system lint typecheck train
	.venv/bin/python -m pytest -n 2 --dist loadfile -m "not alone" --durations=25
	.venv/bin/python -m pytest -m alone --durations=5
	.venv-rasa/bin/rasa data validate --domain bot/domain.yml --data nlu_data bot/rules.yml --config bot/config.yml
	.venv-rasa/bin/rasa test core --model models/bot.tar.gz --stories tests_rasa/conversations \
		--fail-on-prediction-errors --out var/conversation-tests
	.venv-rasa/bin/python -m pytest -c tests_rasa/pytest.ini --rootdir . tests_rasa
	$(MAKE) test-deploy

setup:
	@bash scripts/setup.sh main

setup-rasa:
	@bash scripts/setup.sh rasa

# Debian packages for the browser test, voice notes and nginx (apt-get; root or sudo).
setup-system:
	@bash scripts/setup.sh system

lint: setup
	.venv/bin/ruff check api vntext common gateway bot actions tests tests_rasa bench scripts

# Each runtime against its own interpreter: the main environment (API, gateway, shared kernel) and the
# Rasa environment (actions, Rasa plugins, shared kernel under Python 3.10; mypy-rasa.ini).
typecheck: setup setup-rasa
	.venv/bin/mypy
	.venv-rasa/bin/mypy --config-file mypy-rasa.ini

# Interface strings: extract into locales/messages.pot, update every catalog (vi filled as the source).
locales: setup
	.venv/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project khamsuckhoe \
		-o locales/messages.pot . >/dev/null
	.venv/bin/python scripts/locales.py

# Browser code the staff pages serve, from npm (pinned in scripts/vendor-js/; the copies are committed).
vendor-js:
	npm ci --prefix scripts/vendor-js --no-audit --no-fund --silent
	cp scripts/vendor-js/node_modules/jsqr/dist/jsQR.js api/studio/static/vendor/jsQR.js
	cp scripts/vendor-js/node_modules/jsqr/LICENSE api/studio/static/vendor/jsQR.LICENSE.txt

# Container images with podman (deploy/images/README.md), layers cached between runs; IMAGE_TAG=… tags them.
IMAGE_TAG ?= latest
.PHONY: images test-deploy
images: train setup-system
	IMAGE_TAG=$(IMAGE_TAG) bash deploy/images/build.sh

# The images as the `local` Kubernetes overlay under `podman kube play`: a booking through the gateway pod's
# web chat, checked in the API, and a Rasa replica killed mid-conversation (scripts/test_deploy.py).
test-deploy: images setup
	IMAGE_TAG=$(IMAGE_TAG) .venv/bin/python scripts/test_deploy.py --no-build

bench-booking: setup
	.venv/bin/python bench/booking.py

clean:
	rm -rf .venv .venv-rasa var models .pytest_cache .mypy_cache .ruff_cache .hypothesis
