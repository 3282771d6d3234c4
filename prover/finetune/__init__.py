"""Failure-driven fine-tuning: the SFT stage (warm start), STaR retry and self-mining, with controls.

Project APIs are imported only in ``prover.finetune.api``.
"""
