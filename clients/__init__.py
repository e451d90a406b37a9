"""Chinwag clients: a shared session core and two user interfaces."""
