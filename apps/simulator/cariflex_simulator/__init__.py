"""Cariflex data sources: the device simulator (PV, batteries, EVs, S2 resource managers), the
production price curve and the Open-Meteo weather ingest."""
