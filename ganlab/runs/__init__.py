"""Run folders: their layout (``folder.RunDir``), checkpoint files (``checkpoint``), the run lock (``lock``), a
folder made ready for a training, new or resumed (``prepare``), and loading a trained run for sampling
(``trained.load``, also ``ganlab.load``)."""
