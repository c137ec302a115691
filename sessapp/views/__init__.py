"""Thin views: parse input, call one domain function, return a dict or a redirect.

Redirects are *returned*, never raised: a raised HTTP exception aborts the
request's transaction, session write included.
"""
