"""stub"""
ANSWERS = {}
