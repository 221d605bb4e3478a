"""Exploring trained models: one module per command, each writing a figure into RUN/figures/ (and its
numbers into RUN/figures/<name>.json).

    ganlab interpolate RUN   pixel vs latent interpolation between samples (or between tag sets)
    ganlab edit RUN          an attribute direction in the latent space, removed and added
    ganlab conditional RUN   every value of an attribute (cgan/acgan) or code traversals (infogan)
    ganlab vae-views RUN     test images over their reconstructions, test MSE, samples
    ganlab embed RUN         encoder latents of real images in 2-D, coloured by an attribute
    ganlab probe RUN         linear / RBF-SVM accuracy of an attribute from encoder latents

Each module has a library function (``interpolate``, ``edit``, ...) and a ``cmd(args)`` that
``ganlab.cli.explore`` calls. They ask the run's method what it can do (``method.capabilities``,
``latent_prior()``, ...) and never compare method names. What several commands share sits below them and
imports none of them: ``common`` (loading runs, figures), ``photos`` (photo files and uploads, with their
limits), ``directions`` (latent directions: on disk, found, applied) and ``scorer`` (attribute classifiers).
Imports among these modules run one way, with no circle (imports inside functions included): ``server`` ->
``live``; ``edit`` and ``live`` -> ``project``, ``directions``, ``photos``, ``scorer``; ``project`` ->
``photos``; ``directions`` and nearly every module -> ``common``.
"""
