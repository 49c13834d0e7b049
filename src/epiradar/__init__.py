"""epiradar: early warning of epidemics from fever clinics, with source tracing."""

__version__ = "0.1.0"
