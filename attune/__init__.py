"""attune: measure and serve LLM personalization.

One import package: ``attune.v1`` (the API stubs generated from protos/attune/v1),
``attune.preferences`` (the profile schema and checkers that the judge and the orchestrator share),
``attune.services`` (the folder services/) and ``attune.orchestrator`` (the folder
orchestrator/), mapped by setup.py.
"""
