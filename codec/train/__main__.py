"""python -m codec.train DATA ...: the same options as `dcn train` (torchrun launches this)."""
import typer

from .command import train_command

typer.run(train_command)
