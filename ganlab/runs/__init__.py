"""Run folders: their layout (``folder.RunDir``), checkpoint files (``checkpoint``) and loading a trained
run for sampling (``trained.load``, also ``ganlab.load``)."""
