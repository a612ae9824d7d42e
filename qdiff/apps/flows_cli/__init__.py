"""The ``qdiff flow`` command: train the classical flows of :mod:`qdiff.flows` on the papers' targets."""
