"""Custom actions for the Rasa assistant (rasa_sdk, Rasa environment, Python 3.10).

Actions hold no database: they are thin HTTP clients of the scheduling & content API.
"""
