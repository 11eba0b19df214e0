//! AMQP names and message properties shared by every publisher and consumer.
//!
//! All names derive from one configurable prefix (default `bv`), so several
//! deployments, or several tests, can share one broker without colliding.

/// The routing key of the create command.
pub const CREATE_ROUTING_KEY: &str = "biometric_validation.create";
/// The AMQP `type` property of a create command (version 1 of the body).
pub const CREATE_MESSAGE_TYPE: &str = "biometric_validation.create.v1";
/// The AMQP `type` property of a worker's reply.
pub const REPLY_MESSAGE_TYPE: &str = "biometric_validation.create.reply.v1";
/// The routing key of the redeliver command (re-send one delivery).
pub const REDELIVER_ROUTING_KEY: &str = "delivery.redeliver";
/// The AMQP `type` property of a redeliver command.
pub const REDELIVER_MESSAGE_TYPE: &str = "delivery.redeliver.v1";
/// The AMQP `type` property of a worker's reply to a redeliver command.
pub const REDELIVER_REPLY_MESSAGE_TYPE: &str = "delivery.redeliver.reply.v1";
/// The routing key of the validate command (decide one attempt).
pub const VALIDATE_ROUTING_KEY: &str = "biometric_validation.validate";
/// The AMQP `type` property of a validate command.
pub const VALIDATE_MESSAGE_TYPE: &str = "biometric_validation.validate.v1";
/// The AMQP `type` property of a worker's reply to a validate command.
pub const VALIDATE_REPLY_MESSAGE_TYPE: &str = "biometric_validation.validate.reply.v1";
/// The routing key of the challenge command (issue a liveness challenge).
pub const CHALLENGE_ROUTING_KEY: &str = "biometric_validation.challenge";
/// The AMQP `type` property of a challenge command.
pub const CHALLENGE_MESSAGE_TYPE: &str = "biometric_validation.challenge.v1";
/// The AMQP `type` property of a worker's reply to a challenge command.
pub const CHALLENGE_REPLY_MESSAGE_TYPE: &str = "biometric_validation.challenge.reply.v1";
/// The routing key of the delete-person command.
pub const PERSON_DELETE_ROUTING_KEY: &str = "biometric_validation.person.delete";
/// The AMQP `type` property of a delete-person command.
pub const PERSON_DELETE_MESSAGE_TYPE: &str = "biometric_validation.person.delete.v1";
/// The AMQP `type` property of a worker's reply to a delete-person command.
pub const PERSON_DELETE_REPLY_MESSAGE_TYPE: &str = "biometric_validation.person.delete.reply.v1";
/// Header on a dead-lettered message: the error code that sent it there.
pub const DEAD_CODE_HEADER: &str = "x-bv-error-code";
/// Header on a dead-lettered message: the human reason.
pub const DEAD_REASON_HEADER: &str = "x-bv-error-reason";
/// Header on a worker's reply: the outcome's name, the same as the body's
/// `type` (`created`, `replayed`, `rejected`; `redelivered`, `notFound`, …).
pub const REPLY_OUTCOME_HEADER: &str = "x-bv-outcome";
/// The pseudo-queue of RabbitMQ's direct reply-to.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// The exchange, queue and dead-letter names for one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// Direct, durable exchange receiving commands: `<prefix>.commands`.
    pub commands_exchange: String,
    /// Quorum queue of create commands: `<prefix>.biometric_validation.create`.
    pub create_queue: String,
    /// Exchange receiving dead letters: `<prefix>.dead`.
    pub dead_exchange: String,
    /// Queue holding dead create commands: `<prefix>.biometric_validation.create.dead`.
    pub create_dead_queue: String,
    /// Quorum queue of redeliver commands: `<prefix>.delivery.redeliver`.
    pub redeliver_queue: String,
    /// Queue holding malformed redeliver commands: `<prefix>.delivery.redeliver.dead`.
    pub redeliver_dead_queue: String,
    /// Quorum queue of the biometric commands (validate, challenge, delete
    /// person), consumed by the `biometrics` role:
    /// `<prefix>.biometric_validation.validate`.
    pub validate_queue: String,
    /// Queue holding dead biometric commands: `<prefix>.biometric_validation.validate.dead`.
    pub validate_dead_queue: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Names {
            commands_exchange: format!("{prefix}.commands"),
            create_queue: format!("{prefix}.{CREATE_ROUTING_KEY}"),
            dead_exchange: format!("{prefix}.dead"),
            create_dead_queue: format!("{prefix}.{CREATE_ROUTING_KEY}.dead"),
            redeliver_queue: format!("{prefix}.{REDELIVER_ROUTING_KEY}"),
            redeliver_dead_queue: format!("{prefix}.{REDELIVER_ROUTING_KEY}.dead"),
            validate_queue: format!("{prefix}.{VALIDATE_ROUTING_KEY}"),
            validate_dead_queue: format!("{prefix}.{VALIDATE_ROUTING_KEY}.dead"),
        }
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::new("bv")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_the_documented_ones() {
        let n = Names::default();
        assert_eq!(n.commands_exchange, "bv.commands");
        assert_eq!(n.create_queue, "bv.biometric_validation.create");
        assert_eq!(n.dead_exchange, "bv.dead");
        assert_eq!(n.create_dead_queue, "bv.biometric_validation.create.dead");
        assert_eq!(n.validate_queue, "bv.biometric_validation.validate");
    }
}
