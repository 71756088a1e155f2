//! Diesel table definitions, shared by both backends (the migrations keep the same columns and types).

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    agents (id) {
        id -> Text,
        name -> Text,
        email -> Text,
        role -> Text,
        team_id -> Nullable<Text>,
        time_zone -> Text,
        shift -> Text,
        locale -> Text,
        active -> Bool,
        password_hash -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    absences (id) {
        id -> Text,
        agent_id -> Text,
        starts_at -> BigInt,
        ends_at -> BigInt,
        stand_in_agent_id -> Nullable<Text>,
        note -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        name -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        time_zone -> Text,
        locale -> Text,
        contact_window -> Text,
        preferred_channel -> Nullable<Text>,
        owner_agent_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        notes -> Text,
        facts -> Text,
        external_ref -> Nullable<Text>,
        do_not_call -> Bool,
        region -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    interactions (id) {
        id -> Text,
        customer_id -> Text,
        agent_id -> Nullable<Text>,
        channel -> Text,
        direction -> Text,
        outcome -> Text,
        summary -> Text,
        occurred_at -> BigInt,
        promise_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        owner_agent_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        local_date -> Nullable<Text>,
    }
}

diesel::table! {
    promises (id) {
        id -> Text,
        customer_id -> Text,
        owner_agent_id -> Text,
        made_by_agent_id -> Text,
        kind -> Text,
        title -> Text,
        details -> Text,
        due_local -> Text,
        time_zone -> Text,
        disambiguation -> Text,
        due_at -> BigInt,
        due_offset_seconds -> Integer,
        window_end_at -> Nullable<BigInt>,
        grace_seconds -> BigInt,
        lead_seconds -> Text,
        recurrence_cron -> Nullable<Text>,
        recurrence_until -> Nullable<BigInt>,
        status -> Text,
        kept_at -> Nullable<BigInt>,
        kept_on_time -> Nullable<Bool>,
        resolution_interaction_id -> Nullable<Text>,
        resolution_note -> Nullable<Text>,
        made_in_interaction_id -> Nullable<Text>,
        customer_requested -> Bool,
        reschedule_count -> Integer,
        version -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
        accountable_agent_id -> Text,
        team_id -> Nullable<Text>,
        late_since -> Nullable<BigInt>,
    }
}

diesel::table! {
    promise_events (id) {
        id -> BigInt,
        promise_id -> Text,
        customer_id -> Text,
        kind -> Text,
        actor_agent_id -> Nullable<Text>,
        occurred_at -> BigInt,
        data -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    timers (id) {
        id -> Text,
        promise_id -> Text,
        occurrence_at -> BigInt,
        purpose -> Text,
        recipient -> Text,
        channel -> Text,
        payload -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        fired_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        agent_id -> Text,
        name -> Text,
        token_hash -> Text,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (agent_id, idempotency_key) {
        agent_id -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        response_status -> Integer,
        response_body -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    service_state (key) {
        key -> Text,
        value -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    prompts (id) {
        id -> Text,
        timer_id -> Text,
        promise_id -> Text,
        agent_id -> Text,
        purpose -> Text,
        occurrence_at -> BigInt,
        scheduled_for -> BigInt,
        fired_at -> BigInt,
        late_by_ms -> BigInt,
        handover_note -> Nullable<Text>,
        body -> Text,
        card -> Text,
        acknowledged_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        active -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sends (id) {
        id -> Text,
        channel -> Text,
        target -> Text,
        event_type -> Text,
        subject -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        first_attempt_at -> Nullable<BigInt>,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    calendar_tokens (id) {
        id -> Text,
        agent_id -> Text,
        token_hash -> Text,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(agents -> teams (team_id));
diesel::joinable!(prompts -> promises (promise_id));
diesel::joinable!(calendar_tokens -> agents (agent_id));
diesel::joinable!(absences -> agents (agent_id));
diesel::joinable!(customers -> teams (team_id));
diesel::joinable!(customers -> agents (owner_agent_id));
diesel::joinable!(interactions -> customers (customer_id));
diesel::joinable!(promises -> customers (customer_id));
diesel::joinable!(promise_events -> promises (promise_id));
diesel::joinable!(timers -> promises (promise_id));
diesel::joinable!(api_tokens -> agents (agent_id));
diesel::joinable!(web_sessions -> agents (agent_id));

diesel::allow_tables_to_appear_in_same_query!(
    teams,
    agents,
    absences,
    customers,
    interactions,
    promises,
    promise_events,
    timers,
    api_tokens,
    idempotency_keys,
    service_state,
    prompts,
    webhook_subscriptions,
    sends,
    calendar_tokens,
    web_sessions,
);

diesel::table! {
    metric_days (day, team_id, agent_id, kind) {
        day -> Integer,
        week -> Integer,
        team_id -> Text,
        agent_id -> Text,
        kind -> Text,
        pending -> BigInt,
        missed_open -> BigInt,
        kept_on_time -> BigInt,
        kept_late -> BigInt,
        broken -> BigInt,
        cancelled -> BigInt,
        renegotiated_by_customer -> BigInt,
        renegotiated_by_agent -> BigInt,
        handovers -> BigInt,
    }
}

diesel::table! {
    metric_lateness (day, team_id, agent_id, kind, minutes) {
        day -> Integer,
        week -> Integer,
        team_id -> Text,
        agent_id -> Text,
        kind -> Text,
        minutes -> BigInt,
        count -> BigInt,
    }
}

diesel::table! {
    metric_contacts (day, team_id, agent_id) {
        day -> Integer,
        week -> Integer,
        team_id -> Text,
        agent_id -> Text,
        outbound -> BigInt,
        by_owner -> BigInt,
    }
}

diesel::table! {
    web_sessions (token_hash) {
        token_hash -> Text,
        agent_id -> Text,
        csrf_token -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    metric_weeks (week, team_id, agent_id, kind) {
        week -> Integer,
        team_id -> Text,
        agent_id -> Text,
        kind -> Text,
        pending -> BigInt,
        missed_open -> BigInt,
        kept_on_time -> BigInt,
        kept_late -> BigInt,
        broken -> BigInt,
        cancelled -> BigInt,
        renegotiated_by_customer -> BigInt,
        renegotiated_by_agent -> BigInt,
        handovers -> BigInt,
    }
}

diesel::table! {
    metric_lateness_weeks (week, team_id, agent_id, kind, minutes) {
        week -> Integer,
        team_id -> Text,
        agent_id -> Text,
        kind -> Text,
        minutes -> BigInt,
        count -> BigInt,
    }
}

diesel::table! {
    metric_contacts_weeks (week, team_id, agent_id) {
        week -> Integer,
        team_id -> Text,
        agent_id -> Text,
        outbound -> BigInt,
        by_owner -> BigInt,
    }
}
