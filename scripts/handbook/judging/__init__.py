"""The external judges, run against any OpenAI-compatible chat endpoint.

MT-Bench single-answer grading (FastChat's protocol and prompt file) and AlpacaEval 2 pairwise
annotation (alpaca_eval's annotator prompts and metrics), asked of an API judge or of an
open-weights judge this job serves itself (vLLM, transformers serve), through a cache on disk.

- endpoint: which judge, validated from the plan's JSON; keys stay in the environment.
- client: cached, retried, throttled chat completions.
- serve: a local judge server for the length of a job.
- mt_bench, alpaca, length_control: requests, verdict parsing and summaries per benchmark.
- verdicts: what a summary records about the judge, and the cost shown before judging.
- run: one job from inputs to verdict files (scripts/judge.py).
"""
