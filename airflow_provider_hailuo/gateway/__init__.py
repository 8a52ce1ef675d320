"""The gateway as it is spoken, without Airflow: the wire format (``protocol``), the model's
parameters and rules (``params``), money (``cost``), URLs, retry and resend rules, the pacing of
polls and quota waits, and the defaults. Plain functions and dataclasses, no I/O of their own.

Nothing here imports Airflow, except through ``airflow_provider_hailuo.exceptions`` (whose errors
are Airflow's exceptions so that a task fails, or is not retried, as it should).
"""
