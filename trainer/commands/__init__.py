"""Subcommands of mgqe-train, one module each (see mgqe.trainer.cli)."""
