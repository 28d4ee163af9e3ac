"""Monitoring: drift against stored profiles, labels joined to predictions, realised and estimated
performance, operations figures and KPIs per window, monitors that raise alerts, HTML reports."""
