"""Blind pairwise review of an experiment's videos, and the ranking it gives (issue 12).

    from veolab.review.session import ReviewSession, ranking_of
    session = ReviewSession.open("quickstart", by="var.lighting")
    pair = session.next_pair("ann")
    session.vote(pair["pair"], "ann", "left", note="steadier camera")
    ranking_of("quickstart")["groups"][0]["group"]

``votes`` keeps votes and served pairs in the ledger database; ``pairs`` says which
generations are shown and which pair comes next; ``ranking`` fits Bradley-Terry scores with
bootstrap intervals (choix); ``agreement`` measures reviewers against each other
(krippendorff); ``session`` ties them to one experiment; ``app`` and ``serve`` are the web
server, ``render`` the terminal table, ``mlflow_log`` the review's MLflow run. ``probe`` tells
``veolab compare`` cheaply whether there are votes to show.

Nothing is imported here: ``veolab compare`` imports ``probe`` alone when it has no votes.
"""
