/** MQTT 5 reason codes (§2.4) and MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */
export const ReasonCode = {
  Success: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  SharedSubscriptionsNotSupported: 0x9e,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2
} as const

/** MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-4 .. 3.2.2-6]. */
export const ConnectReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5
} as const

/** Maps a v5 CONNACK reason code to the closest v3.1.1 return code. */
export function toV3ConnectReturnCode (reason: number): number {
  switch (reason) {
    case ReasonCode.Success: return ConnectReturnCode.Accepted
    case ReasonCode.UnsupportedProtocolVersion: return ConnectReturnCode.UnacceptableProtocolVersion
    case ReasonCode.ClientIdentifierNotValid: return ConnectReturnCode.IdentifierRejected
    case ReasonCode.BadUserNameOrPassword: return ConnectReturnCode.BadUserNameOrPassword
    case ReasonCode.NotAuthorized: return ConnectReturnCode.NotAuthorized
    default: return ConnectReturnCode.ServerUnavailable
  }
}
