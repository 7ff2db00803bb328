"""Run by tests (test_disk): the `newsbot` CLI with the hashed test embedder in place of the
model (the disk is what is under test, and the model would only make the run slower)."""

import sys

import index.engine
from index.cli import main
from tests.fakes import FakeEmbedder

index.engine.make_embedder = lambda kind="", model="": FakeEmbedder()  # type: ignore
sys.argv = ["newsbot", *sys.argv[1:]]
main()
