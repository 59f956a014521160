# mtlface: the two commands are `make demo` and `make test`; both install what they need.
PY ?= python3
# nbdev-export rewrites pyproject.toml (same text, new mtime), so the install is keyed on its content, not its mtime
STAMP := .make/installed-$(shell $(PY) -c "import hashlib; print(hashlib.sha1(open('pyproject.toml', 'rb').read()).hexdigest()[:12])")
# console scripts (nbdev-export, nbdev-test) of the Python that PY names, so a venv works without activation
BIN := $(shell $(PY) -c "import sysconfig; print(sysconfig.get_path('scripts'))")

.PHONY: docs-serve gpu-check demo-long screenshots ablations ablations-fas-long help install export check-export readme check-readme nbtest nbtest-slow pytest test demo clean docs chromium test-browser demo-app

help:
	@echo "make demo   - install, generate synthetic faces, train the tiny model, write a report and samples"
	@echo "make test   - install, check mtlface/ matches nbs/, run nbdev-test and pytest"
	@echo "make demo-long - the same on four times the people, AIFR $(DEMO_LONG_AIFR_ITERS) and FAS $(DEMO_LONG_FAS_ITERS) iterations (about 50 minutes with bf16 units: 38 measured with 7,000 FAS iterations and no age-estimator refit, 43 for the 9,000-iteration FAS with its refit alone; roughly 3 times as long on a CPU without AVX-512, from its fp32 rates): faces that visibly age, and recognition above 93%"
	@echo "make ablations - reproduce the paper's ablations on synthetic faces (3 seeds; see ablations/table.md)"
	@echo "make ablations-fas-long - after make demo-long: one-hot vs ICM s=0, 1/8, 1/4, 1/2 from its AIFR model, 2,500 FAS iterations, 3 seeds, 3-4 h (see ablations/fas-long/table.md)"
	@echo "make readme - render README.md from nbs/index.ipynb (no Quarto needed)"
	@echo "make docs   - build the docs site from the notebooks (nbdev-docs with Quarto, else Sphinx) -> docs/_build/html"
	@echo "make docs-serve - serve the built site on http://127.0.0.1:8000 (search snippets need http)"
	@echo "make test-browser - install Chromium if missing, then test the Voila demo and the docs in it"
	@echo "make demo-app - serve the ageing demo with Voila on http://127.0.0.1:8866"
	@echo "make gpu-check - on a machine with CUDA: AIFR/FAS/joint on 1 and all GPUs in bf16 and fp16, eval and benchmark on the GPU"
	@echo "make screenshots - rerun the browser tests, saving their screenshots to docs/screenshots (tests alone never write there)"

# Install into the current Python environment when pyproject.toml changed or nothing is installed yet.
# Without torch, install the pinned 2.13.0 first: an unpinned `torch` would pull a multi-GB CUDA build.
$(STAMP):
	@mkdir -p .make && rm -f .make/installed*
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

install: $(STAMP)

export: install
	$(BIN)/nbdev-export

# The package must be exactly what the notebooks export: export, and fail if that changed anything.
check-export: install
	@snap="$$(mktemp -d)"; cp -r mtlface "$$snap/"; \
	$(BIN)/nbdev-export; \
	if diff -r -q -x __pycache__ "$$snap/mtlface" mtlface; then echo "mtlface/ matches the notebooks"; rm -rf "$$snap"; \
	else echo "mtlface/ was not what nbs/ exports (never edit mtlface/*.py by hand; it is now re-exported: review and commit)"; rm -rf "$$snap"; exit 1; fi

readme: install
	$(PY) tools/nb2md.py nbs/index.ipynb README.md

check-readme:
	$(PY) tools/nb2md.py --check nbs/index.ipynb README.md

# two notebooks at a time, one torch thread each: on 2 cores, 2 workers x 2 threads thrash (measured 2-3x slower)
nbtest: install
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --timing

nbtest-slow: install
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --timing --flags slow

pytest: install
	$(PY) -m pytest -q -rs

test: install check-export check-readme nbtest pytest

# make demo: synthetic faces -> tiny MTLFace: AIFR, then FAS on the frozen encoder (the authors' order) -> evaluation -> REPORT.md
# lr 0.01 for batch 32: the paper's 0.1 is for 8 x 64 = 512 faces a step (0.1 x 32/512 = 0.006); at 0.1 the tiny
# model's DEX age head saturates and predicts one age. FAS Adam lr 1e-3 (paper 1e-4) so a few hundred steps move the
# generator. FAS identity weight 10 (paper 0.002): with the paper's weight the identity term is ~0.002 against ~12 for
# 75 x L_adv and the generator paints blotches that fool the frozen age estimator (identity cosine 0.45 -> 0.79).
# One recipe on every machine: 32 px faces, 1,200 AIFR iterations, the age head refit, 1,500 FAS iterations of 16 with
# the generator's weights averaged and a discriminator that also checks the age group, in fp32 (bf16 barely speeds up
# a model this small, and the 64 px recipe aged a third of the faces in 10 minutes). 6 min 21 s from a fresh clone on
# a 2-core CPU with bf16 units (torch already installed); about 9 minutes expected on one without (untimed). Over six
# AIFR seeds: 54.8-70.6% of faces in their group (target 45%), 77.5-92% ordered by age (mean 86.7%, target 90%).
# Timings, seeds and what did not help: bench/results/fas_recipe.md (top sections).
# `make demo-long` trains longer at 64 px into runs/demo-long (see `make help` for how long).
DEMO_DATA ?= data/synth-demo
DEMO_RUN ?= runs/demo
DEMO_IDENTITIES ?= 120
# 'no' (fp32, as measured) or 'auto' (demo-long: bf16 where the CPU has bf16 units, as its recipe was measured)
DEMO_PRECISION ?= no
# 1 where this CPU has bf16 units (what `--mixed-precision auto` measures: a bf16 GEMM ran 80x slower on one without
# AVX-512); only evaluated for DEMO_PRECISION=auto, once (it imports torch and times a GEMM, about 3 s)
DEMO_BF16 = $(eval DEMO_BF16 := $$(shell $(PY) -c "from mtlface.train import pick_mixed_precision as p; \
  print(int(p('auto') == 'bf16'))"))$(DEMO_BF16)
# the evaluation runs in bf16 where training did
DEMO_EVAL_BF16 = $(if $(filter auto,$(DEMO_PRECISION)),$(if $(filter 1,$(DEMO_BF16)),--bf16))
# side of the synthetic faces and of the model: at 32 px a step costs about half of one at 64 px, and the generator
# ages faces in far fewer steps (44% of faces in their group after 1,500 FAS steps of 16, against 17% for 700 steps of
# 8 at 64 px); grey hair survives at 32 px, wrinkles and children's proportions need demo-long's 64 px
DEMO_SIZE ?= 32
# AIFR 1,200 iterations of 32: cross-age verification 90.0%, and +5.9 [+3.3, +8.6] points of aged faces in their group
# against 800 (paired, the same FAS after each); 2,000 did not help FAS and cost identity (cosine 0.841)
DEMO_AIFR_ITERS ?= 1200
# FAS 1,500 iterations: over six AIFR models, +2.8 [+0.2, +5.5] points of faces ordered by age against 1,200 (paired),
# in group unchanged; taking the 300 from AIFR instead (1,000 + 1,500) put fewer faces in their group
# (-1.8 [-3.3, -0.4]); 1,800 ordered no more faces than 1,500 (bench/results/fas_recipe.md, top section)
DEMO_FAS_ITERS ?= 1500
# FAS batch 16: at 32 px it aged more faces than 8 or 32 in the same minutes (43.9% in group for 1,500 steps of 16,
# 38.6% for 1,500 of 8, 40.1% for 1,000 of 32)
DEMO_FAS_BATCH ?= 16
# demo-long: batch 32 (its recipe was measured so)
DEMO_LONG_FAS_BATCH ?= 32
# demo-long: 64 px, where grey hair and wrinkles show (its recipe was measured so)
DEMO_LONG_SIZE ?= 64
# demo-long: bf16 where the CPU has bf16 units (its 50 minutes were measured so; about 3 times as long in fp32)
DEMO_LONG_PRECISION ?= auto
# demo-long: 9,000 FAS iterations (bench/results/fas_recipe.md, "More FAS iterations and the monotone share"). Against
# 7,000: +3 points of faces in their group (paired over the same faces, clear of noise for each of three runs) and
# 87-92.5% of faces ordered by age in four runs (83.5% in the one at 7,000); 12,000 adds nothing. About 10 min more.
DEMO_LONG_FAS_ITERS ?= 9000
# demo-long: four times the people (384 to train on) and 4,500 AIFR iterations, where cross-age verification passes
# 93%; the 96 people of the demo data are learnt by heart at 88-90% (bench/results/fas_recipe.md, "More training people")
DEMO_LONG_DATA ?= data/synth-demo-long
DEMO_LONG_IDENTITIES ?= 480
DEMO_LONG_AIFR_ITERS ?= 4500
# decay of the generator's weight average (0: none, the paper's way): smooths the smudges, helps only once FAS has
# run long enough (at 64 px after 1,000 iterations L1 0.072 -> 0.066, SSIM 0.527 -> 0.552); at 32 px, paired from 1,200
# iterations on, +3 to +8 points of faces in their group, a steadier ordered share, better L1 and SSIM throughout
DEMO_FAS_EMA ?= 0.99
DEMO_LONG_FAS_EMA ?= 0.99
# weight of the penalty on the change (--fas-residual-loss-weight; 0: none, the paper's way)
DEMO_FAS_RES ?= 20
# demo-long: a lighter penalty, because over thousands of iterations 20 slows the ageing (bench/results/fas_recipe.md)
# (0 ages faster by the evaluation's judge at 3,500 iterations, one run, but not beyond noise by the stronger judge,
# and does not bring children's proportions at 0-10: bench/results/fas_recipe.md, "Is the penalty on the change ...")
DEMO_LONG_FAS_RES ?= 10
# Adam steps refitting the AIFR model's age estimator on the frozen features before FAS (--fas-age-head-steps; 0: none,
# the paper's way): FAS's age loss listens to its group logits, which AIFR's loss trains least (15_train,
# bench/results/fas_recipe.md). make demo: 1,000 steps (about 20 s). Against 300, paired over six AIFR models, +7.3
# [+3.3, +11.2] points of faces in their group (up on all six: 45.9-55.7% against 39.3-44.2%) and +9.9 [-1.4, +21.3]
# ordered (72-81.5% against 57.5-76%); against none, 300 had already taken 1,500 FAS steps at 32 px from 43.9% to 47.0%
# in group and from 41.5% to 78.0% ordered (at 64 px, on these 96 people, the generator gamed the sharper estimator).
# demo-long: 3,000 steps (about 4 minutes) take its test photos from 46.6% to 60.5% in their group by
# those logits, and its aged faces from 53.7% to 56.9% in their group and from 76% to 83.5% ordered (one run each:
# paired over the same 200 faces the gains are within noise, +2.1 [-0.4, +4.7] and +4.0 [-2.5, +10.5]).
DEMO_FAS_AGE_HEAD ?= 1000
DEMO_LONG_FAS_AGE_HEAD ?= 3000
# largest shift of the decoder's warp of the input (--decoder-warp, in half-widths; 0: none, the paper's decoder;
# 06_gan). Not yet a default: on demo-long's recipe, one seed, 0.25 gave more children and more faces in their group
# (bench/results/fas_recipe.md, "A decoder that moves pixels"); try `make demo-long DEMO_LONG_DECODER_WARP=0.25`.
DEMO_DECODER_WARP ?= 0
DEMO_LONG_DECODER_WARP ?= 0
# weight of the discriminator's wrong-group term (--fas-mismatch-loss-weight; 0: none, the paper's way; 07_losses):
# real faces shown with another age group must be called fake too, so D checks the group it is given. make demo: 1;
# paired over six AIFR models against 0, +14.7 [+8.5, +20.9] points of aged faces in their group and +7.4 [-1.7,
# +16.5] ordered by age (bench/results/fas_recipe.md, top section). demo-long: 0 (not yet tried on its recipe).
DEMO_FAS_MISMATCH ?= 1
DEMO_LONG_FAS_MISMATCH ?= 0
demo: install
	@echo "== 1/5 synthetic faces -> $(DEMO_DATA)"
	$(BIN)/mtlface-synth $(DEMO_DATA) --identities $(DEMO_IDENTITIES) --images-per-identity 16 --size $(DEMO_SIZE) --pairs-per-fold 60 --workers 2
	rm -rf $(DEMO_RUN)
	@echo "== 2/5 AIFR: the tiny model learns identity and age -> $(DEMO_RUN)/aifr"
	$(BIN)/mtlface-train --preset tiny --image-size $(DEMO_SIZE) --task aifr --data $(DEMO_DATA) --output-dir $(DEMO_RUN)/aifr \
	  --iterations $(DEMO_AIFR_ITERS) --batch-size 32 --lr 0.01 --warmup 30 --mixed-precision $(DEMO_PRECISION) \
	  --milestones $$(( $(DEMO_AIFR_ITERS) * 3 / 4 )),$$(( $(DEMO_AIFR_ITERS) * 9 / 10 )) \
	  --save-every 200 --eval-every $(DEMO_AIFR_ITERS) --eval-pairs 300
	@echo "== 3/5 FAS: ageing on top of the frozen AIFR encoder -> $(DEMO_RUN)/fas"
	$(BIN)/mtlface-train --preset tiny --image-size $(DEMO_SIZE) --task fas --init-from $(DEMO_RUN)/aifr/model --data $(DEMO_DATA) \
	  --output-dir $(DEMO_RUN)/fas --iterations $(DEMO_FAS_ITERS) --batch-size $(DEMO_FAS_BATCH) \
	  --fas-lr 0.001 --fas-id-loss-weight 10 --fas-ema $(DEMO_FAS_EMA) \
	  --fas-residual-loss-weight $(DEMO_FAS_RES) --fas-age-head-steps $(DEMO_FAS_AGE_HEAD) \
	  --decoder-warp $(DEMO_DECODER_WARP) --fas-mismatch-loss-weight $(DEMO_FAS_MISMATCH) \
	  --mixed-precision $(DEMO_PRECISION) --save-every 200 --eval-every 0 --eval-pairs 300
	ln -sfn fas/model $(DEMO_RUN)/model
	@echo "== 4/5 evaluation -> $(DEMO_RUN)/eval"
	$(BIN)/mtlface-eval $(DEMO_RUN)/model $(DEMO_DATA) --out $(DEMO_RUN)/eval $(DEMO_EVAL_BF16)
	@echo "== 5/5 report"
	$(PY) tools/demo_report.py $(DEMO_RUN) $(DEMO_DATA)

# the same pipeline on four times the people, with AIFR and FAS runs long enough to recognise across ages and age
# faces visibly (the generator's weights averaged)
demo-long: install
	$(MAKE) demo DEMO_DATA=$(DEMO_LONG_DATA) DEMO_IDENTITIES=$(DEMO_LONG_IDENTITIES) DEMO_RUN=runs/demo-long \
	  DEMO_AIFR_ITERS=$(DEMO_LONG_AIFR_ITERS) DEMO_FAS_ITERS=$(DEMO_LONG_FAS_ITERS) DEMO_FAS_EMA=$(DEMO_LONG_FAS_EMA) \
	  DEMO_FAS_RES=$(DEMO_LONG_FAS_RES) DEMO_FAS_AGE_HEAD=$(DEMO_LONG_FAS_AGE_HEAD) \
	  DEMO_DECODER_WARP=$(DEMO_LONG_DECODER_WARP) DEMO_FAS_MISMATCH=$(DEMO_LONG_FAS_MISMATCH) DEMO_FAS_BATCH=$(DEMO_LONG_FAS_BATCH) DEMO_SIZE=$(DEMO_LONG_SIZE) \
	  DEMO_PRECISION=$(DEMO_LONG_PRECISION)

# make ablations: the paper's AIFR and FAS ablations on synthetic faces, 3 seeds -> ablations/table.md, table.json, *.png
# (resumes finished runs; delete ablations/runs to start over)
ablations: install
	$(BIN)/mtlface-ablations --out ablations

# make ablations-fas-long: the FAS rows at make demo-long's recipe, from its AIFR model (384 training people), 3 seeds
# -> ablations/fas-long/. 2,500 FAS iterations a run, not demo-long's 7,000: the fifteen runs take about 3 to 4 hours
# here (3.3-4.3 FAS iterations a second, and about a minute to measure each); finished runs are kept and not redone.
ablations-fas-long: install
	$(BIN)/mtlface-ablations --out ablations/fas-long --data $(DEMO_LONG_DATA) --aifr-model runs/demo-long/aifr/model \
	  --aifr-variants '' --fas-variants 'one-hot,ICM s=0,ICM s=1/8,ICM s=1/4,ICM s=1/2' --fas-iterations 2500 \
	  --fas-residual-loss-weight $(DEMO_LONG_FAS_RES)

# On a machine with CUDA: train AIFR, FAS and joint for 50 iterations on 1 GPU and on all GPUs (accelerate launch),
# in bf16 and fp16, on a small synthetic set; then mtlface-eval and bench/train_step.py on the GPU; a table of
# what passed and the rates -> runs/gpu-check/table.txt. Without CUDA it says so and exits 2 (GPU_CHECK_ARGS=--dry-run
# prints the commands instead).
GPU_CHECK_ARGS ?=
gpu-check: install
	$(PY) tools/gpu_check.py $(GPU_CHECK_ARGS)

# The docs site. With Quarto, nbdev's own route (-> _docs/); without it (this project's machines), Sphinx + myst-nb
# + furo over the notebooks' stored outputs, nothing re-executed (-> docs/_build/html/).
docs: install
	@if command -v quarto >/dev/null 2>&1; then $(BIN)/nbdev-docs && echo "open _docs/index.html"; \
	else $(PY) tools/build_docs.py --out docs/_build && echo "open docs/_build/html/index.html, or make docs-serve for search with snippets"; fi

# Search lists pages from a file:// page too, but its snippets need the pages fetched, which browsers allow only over http.
docs-serve:
	@test -f docs/_build/html/index.html || $(MAKE) docs
	@echo "docs on http://127.0.0.1:8000 (Ctrl-C stops)"; $(PY) -m http.server --bind 127.0.0.1 --directory docs/_build/html 8000

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser of its own)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# The demo in Voila + Chromium and the docs site in Chromium; these fail (rather than skip) if anything is missing.
test-browser: install chromium
	MTLFACE_REQUIRE_BROWSER=1 $(PY) -m pytest -q tests/test_browser.py tests/test_docs.py

# The only way the tests write into the repository: on request, the browser tests' screenshots for the README
screenshots: install chromium
	MTLFACE_REQUIRE_BROWSER=1 MTLFACE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/test_browser.py tests/test_docs.py

demo-app: install
	$(PY) -m voila apps/aging_demo.ipynb --port=8866 --Voila.ip=127.0.0.1 --no-browser

clean:
	rm -rf .make _proc _docs .pytest_cache build *.egg-info docs/_build
