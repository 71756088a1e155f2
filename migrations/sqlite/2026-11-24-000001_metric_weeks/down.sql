DROP TABLE metric_contacts_weeks;
DROP TABLE metric_lateness_weeks;
DROP TABLE metric_weeks;
