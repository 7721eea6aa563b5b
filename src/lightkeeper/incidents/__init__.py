"""Incidents and on-call: critical alerts open incidents, which page whoever is on call now
and escalate up the rotation until someone acknowledges.

Modules: ``config`` (the ``oncall:`` and ``incidents:`` models, cross-checks),
``rotation`` (who is on call when), ``model`` (an incident and its timeline),
``paging`` (the messages), ``store`` (rows), ``service`` (:class:`Incidents`), ``stats``.
Nothing is imported here, so loading the config never pulls in the store.
"""
