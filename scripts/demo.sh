#!/usr/bin/env bash
# The main job on the embedded default model (SmolLM2-135M-Instruct), end to end:
# eval the base model, harden it, eval again, run a customer fine-tune (20% harmful samples, at an
# aggressive lr of 1e-3) with and without Antibody weighting, triage the same upload, and summarise.
# Usage: scripts/demo.sh [OUTPUT_DIR]   (run through `make demo`, which sets up .venv)
set -euo pipefail
out=${1:-runs/demo-$(date +%Y%m%d-%H%M%S)}
started=$(date +%s)
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "1/7 base model: refusal rates on held-out prompts"
antibody eval --model smollm2-135m -o "$out/1-eval-base"
step "2/7 harden (Antibody alignment stage)"
antibody harden smollm2-135m -o "$out/2-harden"
step "3/7 hardened model: refusal rates"
antibody eval --model "$out/2-harden" -o "$out/3-eval-hardened"
step "4/7 customer fine-tune with Antibody weighting (builtin:user, 20% harmful)"
antibody finetune --model "$out/2-harden" --data builtin:user -o "$out/4-finetune-antibody" lr=1e-3
step "5/7 the same fine-tune as plain SFT, for comparison"
antibody finetune --model "$out/2-harden" --data builtin:user -o "$out/5-finetune-sft" --recipe sft lr=1e-3
step "6/7 refusal rates after each fine-tune"
antibody eval --model "$out/4-finetune-antibody" -o "$out/6-eval-antibody"
antibody eval --model "$out/5-finetune-sft" -o "$out/6-eval-sft"
step "7/7 triage the upload with the hardened model"
antibody score --model "$out/2-harden" --data builtin:user -o "$out/7-score" --top 10

step "summary"
antibody report "$out"
echo "demo took $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s; everything is in $out"
