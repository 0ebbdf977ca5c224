"""The synthetic population and typology simulator: worlds, their people and their laundering.

``simulator.world`` (parameters), ``population`` (subjects, accounts, institutions),
``profiles`` (who does what), ``legit`` (one day of legitimate activity), ``typologies`` and
``lookalikes`` (scripted episodes), ``reports`` (events to wire documents), ``generate`` (the
driver). Nothing here imports the detector (``models``), ``services`` or ``streaming``.
"""
