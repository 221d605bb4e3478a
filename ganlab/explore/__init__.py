"""Exploring trained models: one module per command, each writing a figure into RUN/figures/ (and its
numbers into RUN/figures/<name>.json).

    ganlab interpolate RUN   pixel vs latent interpolation between samples (or between tag sets)
    ganlab edit RUN          an attribute direction in the latent space, removed and added
    ganlab conditional RUN   every value of an attribute (cgan/acgan) or code traversals (infogan)
    ganlab vae-views RUN     test images over their reconstructions, test MSE, samples
    ganlab embed RUN         encoder latents of real images in 2-D, coloured by an attribute
    ganlab probe RUN         linear / RBF-SVM accuracy of an attribute from encoder latents

``add_explore_commands`` registers these, ``ganlab report`` (ganlab.report) and ``ganlab sweep``
(ganlab.sweep) with the command line.
"""
from __future__ import annotations


def add_explore_commands(sub) -> None:
    from ganlab import report, sweep
    from ganlab.explore.commands import add_parsers
    add_parsers(sub)
    report.add_parser(sub)
    sweep.add_parser(sub)
