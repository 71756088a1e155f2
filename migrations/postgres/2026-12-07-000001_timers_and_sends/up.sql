-- One word per thing: the table the scheduler reads holds timers (a promise's lead, due, overdue, escalation and
-- expiry moments), and outbound webhook and email sends are sends; a prompt points at the timer that fired it.
-- Indexes and constraints take the new names too, so a plan or an error message never speaks of the old ones.
ALTER TABLE deliveries RENAME TO timers;
ALTER TABLE timers RENAME COLUMN delivered_at TO fired_at;
ALTER INDEX deliveries_pending RENAME TO timers_pending;
ALTER INDEX deliveries_dead RENAME TO timers_dead;

ALTER TABLE messages RENAME TO sends;
ALTER INDEX messages_pending RENAME TO sends_pending;
ALTER INDEX messages_target RENAME TO sends_target;
ALTER INDEX messages_status RENAME TO sends_status;

ALTER TABLE prompts RENAME COLUMN delivery_id TO timer_id;

DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conrelid::regclass::text AS tab, conname FROM pg_constraint
             WHERE conrelid IN ('timers'::regclass, 'sends'::regclass, 'prompts'::regclass)
               AND (conname LIKE 'deliveries%' OR conname LIKE 'messages%' OR conname LIKE '%delivery_id%') LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', c.tab, c.conname,
            replace(regexp_replace(regexp_replace(c.conname, '^deliveries', 'timers'), '^messages', 'sends'),
                    'delivery_id', 'timer_id'));
    END LOOP;
END $$;
