-- Health checks counted per integration and hour (UTC milliseconds of the
-- hour's start), so uptime over 30 days reads at most 720 rows per
-- integration instead of every check.
CREATE TABLE health_hourly (
    integration_id TEXT NOT NULL,
    hour           BIGINT NOT NULL,
    checks         INTEGER NOT NULL,
    healthy        INTEGER NOT NULL,
    PRIMARY KEY (integration_id, hour)
);
CREATE INDEX health_hourly_hour ON health_hourly (hour);
