// The beta SDK's request builders for deviceManagement/virtualEndpoint/externalPartners.
//
// The registry's @microsoft/msgraph-beta-sdk carries the models (CloudPcExternalPartner,
// its serializers, ODataError) but not the deviceManagement request builders, whose
// package is not published there. So this file registers the same request shapes
// through the SDK's own extension point (extendGraphBetaServiceClient), written as
// Kiota generates them from the beta OpenAPI description: the same URI templates,
// query-parameter mappers, content types, factories and error mappings. Everything
// below the builders (the request adapter, middleware, serialization, models, errors,
// PageIterator, batching) is the published SDK, unchanged.
import { extendGraphBetaServiceClient } from "@microsoft/msgraph-beta-sdk";
import {
  createCloudPcExternalPartnerCollectionResponseFromDiscriminatorValue,
  createCloudPcExternalPartnerFromDiscriminatorValue,
  serializeCloudPcExternalPartner,
} from "@microsoft/msgraph-beta-sdk/models/index.js";
import { createODataErrorFromDiscriminatorValue } from "@microsoft/msgraph-beta-sdk/models/oDataErrors/index.js";

export const errorMappings = { XXX: createODataErrorFromDiscriminatorValue };

const collectionTemplate =
  "{+baseurl}/deviceManagement/virtualEndpoint/externalPartners{?%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}";
const collectionQuery = {
  count: "%24count",
  expand: "%24expand",
  filter: "%24filter",
  orderby: "%24orderby",
  search: "%24search",
  select: "%24select",
  skip: "%24skip",
  top: "%24top",
};
const itemTemplate =
  "{+baseurl}/deviceManagement/virtualEndpoint/externalPartners/{cloudPcExternalPartner%2Did}{?%24expand,%24select}";
const countTemplate = "{+baseurl}/deviceManagement/virtualEndpoint/externalPartners/$count{?%24filter,%24search}";

const itemRequests = {
  delete: {
    uriTemplate: itemTemplate,
    responseBodyContentType: "application/json",
    errorMappings,
    adapterMethodName: "sendNoResponseContent",
  },
  get: {
    uriTemplate: itemTemplate,
    responseBodyContentType: "application/json",
    errorMappings,
    adapterMethodName: "send",
    responseBodyFactory: createCloudPcExternalPartnerFromDiscriminatorValue,
    queryParametersMapper: { expand: "%24expand", select: "%24select" },
  },
  patch: {
    uriTemplate: itemTemplate,
    responseBodyContentType: "application/json",
    errorMappings,
    adapterMethodName: "send",
    responseBodyFactory: createCloudPcExternalPartnerFromDiscriminatorValue,
    requestBodyContentType: "application/json",
    requestBodySerializer: serializeCloudPcExternalPartner,
    requestInformationContentSetMethod: "setContentFromParsable",
  },
};

const externalPartners = {
  requestsMetadata: {
    get: {
      uriTemplate: collectionTemplate,
      responseBodyContentType: "application/json",
      errorMappings,
      adapterMethodName: "send",
      responseBodyFactory: createCloudPcExternalPartnerCollectionResponseFromDiscriminatorValue,
      queryParametersMapper: collectionQuery,
    },
    post: {
      uriTemplate: collectionTemplate,
      responseBodyContentType: "application/json",
      errorMappings,
      adapterMethodName: "send",
      responseBodyFactory: createCloudPcExternalPartnerFromDiscriminatorValue,
      requestBodyContentType: "application/json",
      requestBodySerializer: serializeCloudPcExternalPartner,
      requestInformationContentSetMethod: "setContentFromParsable",
    },
  },
  navigationMetadata: {
    byCloudPcExternalPartnerId: {
      requestsMetadata: itemRequests,
      pathParametersMappings: ["cloudPcExternalPartner%2Did"],
    },
    count: {
      requestsMetadata: {
        get: {
          uriTemplate: countTemplate,
          responseBodyContentType: "text/plain;q=0.9",
          errorMappings,
          adapterMethodName: "sendPrimitive",
          responseBodyFactory: "number",
          queryParametersMapper: { filter: "%24filter", search: "%24search" },
        },
      },
    },
  },
};

extendGraphBetaServiceClient(
  {
    deviceManagement: {
      navigationMetadata: {
        virtualEndpoint: { navigationMetadata: { externalPartners } },
      },
    },
  },
  {},
);
