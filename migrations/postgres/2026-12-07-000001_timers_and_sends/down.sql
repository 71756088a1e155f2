DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conrelid::regclass::text AS tab, conname FROM pg_constraint
             WHERE conrelid IN ('timers'::regclass, 'sends'::regclass, 'prompts'::regclass)
               AND (conname LIKE 'timers%' OR conname LIKE 'sends%' OR conname LIKE '%timer_id%') LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', c.tab, c.conname,
            replace(regexp_replace(regexp_replace(c.conname, '^timers', 'deliveries'), '^sends', 'messages'),
                    'timer_id', 'delivery_id'));
    END LOOP;
END $$;

ALTER TABLE prompts RENAME COLUMN timer_id TO delivery_id;

ALTER INDEX sends_status RENAME TO messages_status;
ALTER INDEX sends_target RENAME TO messages_target;
ALTER INDEX sends_pending RENAME TO messages_pending;
ALTER TABLE sends RENAME TO messages;

ALTER INDEX timers_dead RENAME TO deliveries_dead;
ALTER INDEX timers_pending RENAME TO deliveries_pending;
ALTER TABLE timers RENAME COLUMN fired_at TO delivered_at;
ALTER TABLE timers RENAME TO deliveries;
