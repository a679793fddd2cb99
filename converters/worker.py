"""``python -m converters.worker JOB_DIR``: run one conversion job (see ``_worker``)."""

from converters._worker import main, run_job

__all__ = ["main", "run_job"]

if __name__ == "__main__":
    raise SystemExit(main())
