"""Weather ingest: Open-Meteo's irradiance, temperature and wind speed into FlexMeasures."""
